"""Property-based fuzzing of the OpenAPI spec with schemathesis: a bounded number of generated requests per
operation (deterministic: derandomized), as an admin (who may call everything). None may answer 5xx; every 4xx is
the JSON error shape; status codes, content types and bodies conform to the spec."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from sqlalchemy.orm import Session

from core.models.enums import Role
from core.services import auth as auth_service
from tests import factories
from tests.api_support import app_for

EXAMPLES_PER_OPERATION = 6
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_generated_request_gets_a_server_error(session: Session) -> None:
    admin = factories.user(session, role=Role.admin)
    key = auth_service.create_api_key(session, admin.id, "fuzz")[1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app_for(session, enqueued=[]))
    problems: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
            statuses[response.status_code // 100] = statuses.get(response.status_code // 100, 0) + 1
            where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200}"
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except Exception as exc:  # schemathesis raises a group of failures; keep them all for the report
                problems.append(f"not as specified: {where}: {str(exc)[:400]}")
            if response.status_code >= 500:
                problems.append(f"{response.status_code} {where}: {response.text[:300]}")
            elif response.status_code >= 400:
                body = response.json()
                if set(body) != {"error"} or not {"code", "field", "message"} <= set(body["error"]):
                    problems.append(f"not the error shape: {where}: {response.text[:300]}")

        fuzz()
    assert operations >= 60
    assert statuses.get(2, 0) >= 50 and statuses.get(4, 0) >= 50, statuses  # it did reach the handlers
    assert not problems, "\n".join(problems[:20])
