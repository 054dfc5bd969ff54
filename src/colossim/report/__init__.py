"""Human-readable reports (terminal tables, later HTML/Markdown). Only interfaces import this."""
