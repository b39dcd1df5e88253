"""The page shows the copy limits in force (`/api/operations`, above "Moving now")."""

from __future__ import annotations

from .flow import AppFactory, api_key


async def test_the_operations_api_carries_the_limits_in_force(start_app: AppFactory) -> None:
    client = await start_app(cache={"copy_limit_mib_s": 50, "copy_concurrency": 3})

    resp = await client.get("/api/operations", headers=api_key(client))

    assert resp.status == 200
    limits = (await resp.json())["data"]["limits"]
    assert limits == {
        "copy_concurrency": 3,
        "restore_concurrency": 1,
        "copies_per_disk": 1,
        "copy_limit_mib_s": 50,
        "disk_limit_mib_s": None,
    }
