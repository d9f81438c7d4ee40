"""One module per measured claim; each runs its own emulators and workers and returns a dict."""
