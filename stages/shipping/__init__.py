"""What leaves the repository: the model card built from a finished run's own files (record, card; its sections
in subjects, usage and terms; its signature and notes in signature), the folder that is published (folder), the
checks that the model is current and stored in the DVC remote (stale), and the upload to the Hugging Face Hub
(hub). `python -m stages.publish` drives them; nothing here is a DVC stage."""
