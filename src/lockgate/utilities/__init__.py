"""Small shared helpers: the run context, the clock, task helpers, debug switches."""
