"""The entry point: `app` for WSGI servers, and `python wsgi.py` for the Socket.IO dev server."""
from app import create_app, start_background_workers

app = create_app()

if __name__ == "__main__":
    start_background_workers(app)
    config = app.config
    print(f"\n  PayLab is running.\n"
          f"    Shop:      {config['PUBLIC_URL']}/shop/   (sign in: thandi@example.co.za / paylab-demo)\n"
          f"    Walkthrough: {config['PUBLIC_URL']}/walkthrough/   (open it next to the shop)\n"
          f"    PayLab ID: {config['PUBLIC_URL']}/idp/\n"
          f"    Bank app:  {config['PUBLIC_URL']}/bank/app/   (demo: thandi / paylab-demo, PIN 1234)\n"
          f"    Merchant:  {config['PUBLIC_URL']}/bank/merchant/\n"
          f"    Bank API:  {config['PUBLIC_URL']}/bank/api/openapi.json\n", flush=True)
    app.extensions["socketio"].run(app, host=config["HOST"], port=config["PORT"], allow_unsafe_werkzeug=True,
                                   use_reloader=False)
