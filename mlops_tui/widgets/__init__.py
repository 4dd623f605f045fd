"""Widgets shared by the console's screens: header, banner, tables, filter bar, charts."""
