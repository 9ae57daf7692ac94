"""Core task types: FunctionTask, Constant, collection tasks and operator tasks."""

from lockgate.tasks.core.collections import Dict, List, Set, Tuple
from lockgate.tasks.core.constants import Constant
from lockgate.tasks.core.function import FunctionTask
from lockgate.tasks.core.operators import (
    Add,
    And,
    Div,
    Equal,
    FloorDiv,
    GetItem,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Mod,
    Mul,
    Not,
    NotEqual,
    Or,
    Pow,
    Sub,
)

__all__ = [
    "Add",
    "And",
    "Constant",
    "Dict",
    "Div",
    "Equal",
    "FloorDiv",
    "FunctionTask",
    "GetItem",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "List",
    "Mod",
    "Mul",
    "Not",
    "NotEqual",
    "Or",
    "Pow",
    "Set",
    "Sub",
    "Tuple",
]
