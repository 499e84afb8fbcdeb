"""Roles (viewer, operator, editor, admin) on Django groups and permissions,
and their enforcement in API views and pages."""
