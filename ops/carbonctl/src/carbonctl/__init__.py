"""carbonctl: operate the carbon platform (status, drain/resume ingestion).

    carbonctl status [--local | --namespace NS] [--json]
    carbonctl ingestion drain|resume|status [--redis-url URL]

Exit status: 0 healthy / done, 1 something unhealthy, 2 usage or connection error.
"""
