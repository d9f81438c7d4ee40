"""Extra link from a task to its dispatched job in the Nomad UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk import BaseOperator

#: XCom key under which the operator stores the job's Nomad UI address before it waits.
JOB_URL_XCOM_KEY = "nomad_job_url"


class NomadJobLink(BaseOperatorLink):
    """Link to the dispatched child job in the Nomad UI.

    Built from XCom alone (no call to Nomad), so it works after the cluster has forgotten the
    job. Airflow's UI reads a link from the XCom ``xcom_key`` that the worker fills when the
    task ends; the operator also fills it as soon as the job is dispatched, so the link works
    while the batch runs.
    """

    name = "Nomad job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(key=JOB_URL_XCOM_KEY, ti_key=ti_key)
        return url or ""
