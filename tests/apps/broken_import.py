"""An app module whose import fails, as a broken deploy would."""

raise ImportError("simulated: cannot import name 'thing' from 'missing_dependency'")
