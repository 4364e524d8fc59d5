"""gunicorn's settings for one classroom web process (deploy/classroom.py starts one per port).

Flask-SocketIO's deployment guide: one worker per server process (a socket's requests must reach
the process that holds it), several such processes behind the proxy, a message queue between them.
The worker is gevent's: one greenlet per open socket, where the threading server runs four OS
threads each (make bench: 187 against 243 MiB with 600 sockets, at the same latency). WebSockets are
served by python-engineio through simple-websocket, so the unmaintained gevent-websocket is not
needed. The bind address comes from the command line (-b), everything else from the environment.
"""
import gc

worker_class = "gevent"
workers = 1
# Open sockets per process: a classroom's 900 over three processes, with room for a burst of requests.
worker_connections = 2000
# A gevent worker tells the arbiter it is alive between requests; long-polls and WebSockets do not block that.
timeout = 60
graceful_timeout = 20  # SIGTERM: open requests get this long, then sockets are closed and clients reconnect
keepalive = 75  # the proxy keeps idle upstream connections (deploy/nginx.conf.template: keepalive_timeout 60s)
forwarded_allow_ips = "127.0.0.1,::1"  # the proxy on this machine; PROXY_FIX_HOPS=1 does the app's part
control_socket_disable = True  # deploy/classroom.py supervises; several gunicorns on one machine would share its path
accesslog = None  # the proxy's log has each request, without its query string (codes, states: see nginx.conf.template)


def post_worker_init(worker):
    """The process joins the others now, not at its first request: it hears their messages (a sign-in
    ended elsewhere) and says it is alive (the instructor's view) even before anyone reaches it. Then
    what start-up made, which lives as long as the process, is kept out of the collector's full passes,
    which otherwise scan it all and pause every greenlet meanwhile (as wsgi.py does for `make run`)."""
    worker.wsgi.extensions["process_bus"].start()
    gc.collect()
    gc.freeze()
