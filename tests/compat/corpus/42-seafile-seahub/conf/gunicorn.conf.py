import os

daemon = True
workers = 1

# default localhost:8000
bind = "127.0.0.1:@PORT@"

# Pid
pids_dir = '@DIR@/pids'
pidfile = os.path.join(pids_dir, 'seahub.pid')

# for file upload, we need a longer timeout value (default is only 30s, too short)
timeout = 1200

limit_request_line = 8190

forwarder_headers = 'SCRIPT_NAME,PATH_INFO,REMOTE_USER'
