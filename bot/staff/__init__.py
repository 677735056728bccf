"""Staff: accounts, roles and what each role may see and do, the audit log, broadcasts."""
