"""Lessons learned across tasks: written when a task ends, recalled into new tasks' context."""
