"""Built-in plugins, installed as ``audiogan_plugins``; each module is a plugin written exactly as a
third-party one."""
