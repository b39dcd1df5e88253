"""Who may use Cacherr: password hashes, login sessions, the login rate limit, the first
visit's set-up code and the names the server answers to."""
