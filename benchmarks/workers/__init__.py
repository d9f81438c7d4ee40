"""Worker processes: each measured thing runs in one of these, apart from the harness."""
