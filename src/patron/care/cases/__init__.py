"""Cases: complaints, questions and requests with SLA deadlines in working hours, replies and
notes, the agents' queue, cases opened from e-mail, and the service-recovery report."""
