"""Aftershock's own exception types. Raised at boundaries `from` the underlying error and turned
into a message only at the edge (the CLI)."""


class AftershockError(Exception):
    """Base class: anything the CLI may show to a user as a one-line message."""


class ConfigError(AftershockError):
    """The settings or the services config are invalid."""


class WarehouseError(AftershockError):
    """The DuckDB warehouse could not be opened, migrated or queried."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse's write lock for longer than we are willing to wait."""


class ReadOnlyQueryError(WarehouseError):
    """A query given to the read-only SQL console tried to write or reach outside the warehouse."""


class ImportFormatError(AftershockError):
    """A whole input file is unreadable (single bad records go to quarantine instead)."""


class ModelError(AftershockError):
    """The classifier model could not be loaded or run."""
