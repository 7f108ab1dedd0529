"""Where rows live: schema, migrations, backends chosen by URL, and the single writer.

Knows tables and SQL; does not know what a metric means.
"""
