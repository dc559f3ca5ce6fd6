"""One exception type for every problem a user can fix: the CLI prints its message on one line."""


class UR4RecError(Exception):
    """A problem with the user's input (file, key, row, value) — printed without a traceback."""


class DataError(UR4RecError):
    """Bad or missing data: a file, a column, a row, a filter that left nothing."""


class ConfigError(UR4RecError):
    """A config key that does not exist, a value of the wrong type or out of range."""


class CheckpointError(UR4RecError):
    """A checkpoint that cannot be read or belongs to another model or catalogue."""


class TrainingDiverged(UR4RecError):
    """A non-finite loss or gradient: the run stops instead of validating a broken model."""
