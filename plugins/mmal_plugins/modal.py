"""Built-in plugin (being written): registers nothing yet."""
