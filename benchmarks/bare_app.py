"""The stack's limit: a bare Starlette endpoint answering a job status of the same size."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def status(request):  # type: ignore[no-untyped-def]
    return JSONResponse({"job_id": request.path_params["job_id"], "status": "running"})


app = Starlette(routes=[Route("/pixelcut/v1/video/remove-background/job/{job_id}", status)])
