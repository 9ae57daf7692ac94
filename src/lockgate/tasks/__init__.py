"""Ready-made tasks: function tasks, constants, collections, operators, control flow."""
