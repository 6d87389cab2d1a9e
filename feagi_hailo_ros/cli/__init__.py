"""The `feagi-hailo` command-line tool."""
