"""Reports: figures, tables, disclosure control and HTML rendering."""
