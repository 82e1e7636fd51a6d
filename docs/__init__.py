"""The course: chapters (*.md), exercises with starter files, their answers, and a grader.

A package only so that `python3 -m docs.grade` runs from the clone's folder.
"""
