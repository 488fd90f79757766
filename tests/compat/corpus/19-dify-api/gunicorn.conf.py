from gevent import events as gevent_events


def post_patch(event):
    # this function is only called for gevent worker.
    if not isinstance(event, gevent_events.GeventDidPatchBuiltinModulesEvent):
        return
    print("stdlib patched with gevent.", flush=True)  # noqa: T201


gevent_events.subscribers.append(post_patch)


def post_worker_init(worker):
    """Install workflow draining before Gunicorn's normal SIGTERM handling."""
    import signal

    original_sigterm_handler = signal.getsignal(signal.SIGTERM)
    if not callable(original_sigterm_handler):
        raise RuntimeError("Gunicorn SIGTERM handler is not installed before post_worker_init")

    def handle_workflow_warm_shutdown(signum, frame):
        original_sigterm_handler(signum, frame)

    signal.signal(signal.SIGTERM, handle_workflow_warm_shutdown)
    signal.siginterrupt(signal.SIGTERM, False)
