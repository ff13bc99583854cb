"""Rendering albums and stats for output: JSON, CSV, Markdown, HTML, and Prometheus."""
