"""`openio lifecycle get|set|apply`: a container's lifecycle rules."""
