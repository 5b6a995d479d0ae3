"""ecm: Enhanced Care Management population finder."""
