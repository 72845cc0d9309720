"""Human seats: who can take calls, the directory of people callers may ask for."""
