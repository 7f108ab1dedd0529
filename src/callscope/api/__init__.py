"""HTTP surfaces: parse, call one function, render."""
