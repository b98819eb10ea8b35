"""CSS, JS and icon of the simulator page (a package only so that package data ships them)."""
