"""Results shown to people: terminal tables, HTML feedback pages and the class summary."""
