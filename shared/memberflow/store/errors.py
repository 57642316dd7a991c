"""The store's errors, as the layers above catch them: a read found nothing
(``DoesNotExist``), a conditional write was refused (``PutError``, ``UpdateError``,
``TransactWriteError``, with the condition's code in ``cause_response_code`` or the
transaction's ``cancellation_reasons``). PynamoDB's own classes, named once here so that
nothing above ``memberflow.store`` imports PynamoDB."""

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError

__all__ = ["DoesNotExist", "PutError", "TransactWriteError", "UpdateError"]
