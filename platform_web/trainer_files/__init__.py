"""What trainers without the shared media folder need from the platform: internal routes and object storage.

`views.py` / `urls.py`: the internal HTTP routes of trainer_api/file_transfer.py (Bearer TRAINER_TOKEN);
`services.py`: what they do; `storage.py`: the web side of object storage.
"""
