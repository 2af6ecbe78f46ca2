"""Privacy: everything Patron holds about a person, exported; erasure on request, approved by staff."""
