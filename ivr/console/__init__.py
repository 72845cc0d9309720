"""``ivr console``: the web page for seats, shift leaders and admins; it reads and writes only the register."""
