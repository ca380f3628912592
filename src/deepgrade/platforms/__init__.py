"""The hosted autograders: what runs inside a Gradescope or PrairieLearn grading container.

Part of the student package (it needs no staff extra): an export (``grade export``, in
``deepgrade.staff.exports``) ships the course's checks beside a call of one of these modules.
"""
