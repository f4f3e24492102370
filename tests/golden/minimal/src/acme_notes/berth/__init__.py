"""The service's plumbing, kept by the project template (berth) and brought up to date by `copier
update`: settings, logging, errors, input limits, health checks.

It is a subpackage of its own so that the package's top level belongs to the app: the app's own
`config`, `cli`, `models`, `errors`, `tasks` or `db` modules never collide with these.
"""
