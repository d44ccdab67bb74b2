"""Reports of classify results: self-contained HTML (plots embedded) or Markdown."""
