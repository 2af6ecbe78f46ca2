"""Key accounts and their managers (assignment by rule, manual override), the account manager's
workspace, tasks (by hand and from rules) and events with guest lists, invitations and RSVPs."""
