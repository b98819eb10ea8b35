"""What the tests share, one module per kind: `service` (the server thread, `Env`, the database reset),
`chat` (event numbers and the WeChat side of a conversation), `admin` (logging in), `cli` (the
command line and its files), `procs` (service processes, a cuttable TCP proxy, scratch databases)."""
