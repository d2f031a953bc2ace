"""What the commands print and write for people: `list` / `show` text, the end-of-study summary,
the report page."""
