"""Who may use Cacherr: password hashes, login sessions, the login rate limit."""
