"""The app's shared objects, each built by one small `init_app` module, in the order listed here.

Every module keeps its object on the app and offers a typed accessor (`ext_redis.store()`,
`ext_jobs.event_log()`, ...), so callers never spell an `app.extensions` key. Web processes and
workers build the same list; `web.create_app` adds the HTTP-only pieces after it.
"""
