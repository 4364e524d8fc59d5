"""The entry point: `app` for WSGI servers, and `python wsgi.py` for the Socket.IO dev server."""
from app import create_app, start_background_workers
from app.cli import prepare_instance
from config import EVERY_ADDRESS

app = create_app()


def where_it_listens(config):
    """One line for the start-up banner: who can reach this server (the demo logins are public)."""
    host, port = config["HOST"], config["PORT"]
    if host in EVERY_ADDRESS:
        return f"Listening on every address ({host}, port {port}): anyone on your network can reach it."
    if host in EVERY_ADDRESS.values() or host == "localhost":
        return f"Listening on {host}:{port}, this computer only (a tunnel reaches it; HOST=0.0.0.0 opens it up)."
    return f"Listening on {host}:{port}."


if __name__ == "__main__":
    prepare_instance(app)  # migrate and seed, in this process and only what is missing (make run)
    start_background_workers(app)
    config = app.config
    print(f"\n  PayLab is running.\n"
          f"    Shop:      {config['PUBLIC_URL']}/shop/   (sign in: thandi@example.co.za / paylab-demo)\n"
          f"    Walkthrough: {config['PUBLIC_URL']}/walkthrough/   (open it next to the shop)\n"
          f"    PayLab ID: {config['PUBLIC_URL']}/idp/\n"
          f"    Bank app:  {config['PUBLIC_URL']}/bank/app/   (demo: thandi / paylab-demo, PIN 1234)\n"
          f"    Merchant:  {config['PUBLIC_URL']}/bank/merchant/\n"
          f"    Bank API:  {config['PUBLIC_URL']}/bank/api/openapi.json\n"
          f"  {where_it_listens(config)}\n", flush=True)
    app.extensions["socketio"].run(app, host=config["HOST"], port=config["PORT"], allow_unsafe_werkzeug=True,
                                   use_reloader=False)
